// Offline, a statement with no entry in .lifeguard/: the error names the files looked
// for and the command that writes them. (The server rejects this SQL, so
// `cargo lifeguard prepare` never writes an entry for it.)
fn main() {
    let _ = lifeguard::query!("SELECT id FROM table_never_prepared");
}
