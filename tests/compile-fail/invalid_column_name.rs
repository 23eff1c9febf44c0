// A column whose name is not a Rust identifier: the error suggests an alias.
fn main() {
    let _ = lifeguard::query!("SELECT id, id + 1 FROM users");
}
