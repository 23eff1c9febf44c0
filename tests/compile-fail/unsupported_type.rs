// A column type Lifeguard does not map: the error names it and shows the override.
fn main() {
    let _ = lifeguard::query!("SELECT point(1, 2) AS location");
}
