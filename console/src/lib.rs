//! The built-in web console of Suslik (issue 6): server-rendered views over the
//! broker's state, served by every node. Nothing is implemented yet; see README.md.
