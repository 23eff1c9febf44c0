// A column that does not exist: the server's hint comes along.
fn main() {
    let _ = lifeguard::query!("SELECT nme FROM users");
}
