// One argument for a statement with two parameters.
fn main() {
    let _ = lifeguard::query!("SELECT name FROM users WHERE id = $1 AND name = $2", 7);
}
