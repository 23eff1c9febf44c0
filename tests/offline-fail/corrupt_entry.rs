// Offline, an entry edited by hand into something that is not valid metadata: the
// error names the file and what is wrong with it.
fn main() {
    let _ = lifeguard::query!("SELECT 'a corrupt entry' AS c");
}
