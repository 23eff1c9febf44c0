// Two columns with the same name would be two fields of the same name: the error asks
// for an alias.
fn main() {
    let _ = lifeguard::query!("SELECT c.name, c2.name FROM customers c JOIN customers c2 ON c2.id = c.id");
}
