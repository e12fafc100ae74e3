//! How the server holds on to memory. The binary's allocator is mimalloc (`main.rs`), which keeps
//! each thread's freed memory in that thread's pages and gives it back to the system only when the
//! same thread allocates or frees again. A thread that goes quiet after a burst of requests would
//! keep what the burst freed for as long as it stays quiet; [`give_back_free_memory`] is called by
//! such threads (the database threads, `db::DbPool`) once they have been idle a moment.
//!
//! mimalloc is built without its request for transparent huge pages (its `no_thp` feature): it
//! asked for them on its arenas, and every 2 MiB region a thread had touched then stayed resident
//! whole. At 10,000 clients that alone took the server from 113–161 MB under load to 77–99 MB, at
//! the same throughput. Where the kernel's setting is `always` (this machine's is `madvise`) it
//! gives them unasked; `MIMALLOC_ALLOW_THP=0` in the environment then keeps them off, for the
//! embedded PostgreSQL the server starts as well.

/// Returns the calling thread's free mimalloc pages to the system. Harmless where mimalloc is not
/// the global allocator (the tests): it then looks at an empty heap.
#[allow(unsafe_code, reason = "one call into the allocator, on the calling thread's own heap")]
pub fn give_back_free_memory() {
    // SAFETY: `mi_collect` only reads and releases the calling thread's own heap.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
