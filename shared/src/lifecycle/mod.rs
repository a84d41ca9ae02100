//! Steps of a task's life that several functions take: bringing a task up to date from its
//! provider, and what a provider's bill says against ours.

pub mod billing;
pub mod fail;
pub mod sync;
