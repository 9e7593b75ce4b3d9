//! m2m-client against a scripted token endpoint: a real axum server on
//! 127.0.0.1 that counts requests and answers what each test tells it to;
//! DPoP against the real guard, and end to end with the real issuer.

mod delegation;
mod dpop;
mod endpoint;
mod exchange;
mod issuer;
mod source;
