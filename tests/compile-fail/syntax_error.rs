// A syntax error on the third line: the caret is under the error on that line.
fn main() {
    let _ = lifeguard::query!(
        "SELECT id, name
         FROM users
         WHER id = 1"
    );
}
