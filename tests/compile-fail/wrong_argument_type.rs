// An argument whose type does not fit its parameter: the error names $1, int4 and the
// Rust types that fit.
fn main() {
    let _ = lifeguard::query!("SELECT name FROM users WHERE id = $1", "seven");
}
