//! Compatibility routes: each vendor's request, verbatim, becomes the same
//! domain command the native API publishes; the decision comes back in the
//! vendor's response and error shapes. A route maps shapes and names; the
//! domain decides (no rule lives here).
pub mod zephr;
