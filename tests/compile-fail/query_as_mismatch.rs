// query_as! fields that do not match the columns: a wrong type, an Option missing on
// a nullable column, and a field with no column.
struct User {
    id: i64,
    email: String,
    nickname: Option<String>,
}

fn main() {
    let _ = lifeguard::query_as!(User, "SELECT id, email FROM users");
}
