//! Integration tests of m2m-issuer, compiled as one binary.

mod store;
