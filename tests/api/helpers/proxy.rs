//! A TCP proxy of the test's own, to put between a server and PostgreSQL
//! and cut the line at will.

use std::net::{SocketAddr, ToSocketAddrs};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    pub address: SocketAddr,
    /// `true` while the line is cut.
    cut: watch::Sender<bool>,
}

impl TcpProxy {
    /// Forwards every connection made to `address` to `upstream`.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local address");
        let (cut, watching) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut watching = watching.clone();
                if *watching.borrow_and_update() {
                    // Cut: the connection closes at once.
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = watching.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        TcpProxy { address, cut }
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

/// The address of the PostgreSQL server a connection URL names.
pub fn postgres_address(url: &str) -> SocketAddr {
    let url = url::Url::parse(url).expect("the PostgreSQL URL does not parse");
    let host = url.host_str().unwrap_or("127.0.0.1");
    (host, url.port().unwrap_or(5432))
        .to_socket_addrs()
        .expect("the PostgreSQL host resolves")
        .next()
        .expect("the PostgreSQL host has an address")
}
