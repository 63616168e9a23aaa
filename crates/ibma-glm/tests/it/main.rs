//! Integration tests of ibma-glm, one module per topic.

mod flame;
mod likelihood;
mod metafor;
