// The migrations are embedded with `embed_migrations!`, which does not notice
// when the SQL files change; this makes Cargo rebuild the crate when they do.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
