// A table that does not exist: the server's message, SQLSTATE and a caret.
fn main() {
    let _ = lifeguard::query!("SELECT id FROM nosuch_table");
}
