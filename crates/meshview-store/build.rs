// The migrations are embedded at build time (`migrations/chain.rs`): a migration added,
// removed or edited must rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
