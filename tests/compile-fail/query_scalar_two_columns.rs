// query_scalar! needs exactly one column.
fn main() {
    let _ = lifeguard::query_scalar!("SELECT id, name FROM users");
}
