// COPY is refused before anything is described: the error names the COPY API.
fn main() {
    let _ = lifeguard::query!("COPY users (id, name) FROM STDIN");
}
