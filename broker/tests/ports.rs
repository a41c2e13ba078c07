//! The test harness's own promise about ports: nodes that can take port 0 do, and a
//! cluster member whose pre-picked port is taken is reported as not started (so the
//! cluster start is redone on fresh ports) instead of hanging or passing unnoticed.

mod common;

use common::Server;
use std::net::{SocketAddr, TcpListener};

#[tokio::test]
async fn a_member_whose_port_is_taken_is_reported_as_not_started() {
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr");
    let flags: Vec<String> = ["--node-id", "1", "--peers", &format!("1={addr}")]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let err = Server::try_launch("taken", addr, &flags)
        .await
        .err()
        .expect("the port is taken");
    assert!(err.contains("did not print its address"), "{err}");
}

#[tokio::test]
async fn a_node_on_port_0_keeps_the_port_it_got_across_restarts() {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut node = Server::launch("n1", any, &[]).await;
    let first = node.addr();
    assert_ne!(first.port(), 0);
    node.wait_ready().await;
    node.kill();
    node.relaunch().await;
    assert_eq!(node.addr(), first, "a member's address must not move");
    node.wait_ready().await;
}
