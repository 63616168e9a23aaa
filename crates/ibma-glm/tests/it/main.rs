//! Integration tests of ibma-glm, one module per topic.

mod likelihood;
mod metafor;
