//! The database going away and coming back, through a TCP proxy of the
//! test's own between gatehouse and PostgreSQL.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp};

/// Forwards connections to `upstream` until cut; while cut, it closes every
/// forwarded connection and refuses new ones.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (cut, links) = (cut.clone(), links.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Proxy {
            port,
            cut,
            links,
            accept,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

fn upstream(backend: &Backend) -> SocketAddr {
    let Backend::Postgres(admin) = backend else {
        unreachable!("the proxy stands in front of PostgreSQL")
    };
    let url = reqwest::Url::parse(admin).unwrap();
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    format!("{host}:{port}").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_and_service_comes_back_by_itself() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let proxy = Proxy::start(upstream(&backend)).await;
    let app = TestApp::builder(backend)
        .database_port(proxy.port)
        .spawn()
        .await;
    let api = app.register_token_user().await;
    let page = app.new_browser().register_cookie_user().await;
    page.me().await;

    proxy.cut();

    let health = app.healthz().await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    let me = app.api_me(&api.token).await;
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(me.headers().contains_key(RETRY_AFTER));
    let body: serde_json::Value = me.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );

    let login = app.api_login(&api.user.api_login()).await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);

    let me = page.get_me().await;
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        me.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = me.text().await.unwrap();
    assert!(html.contains("Service unavailable"), "{html}");
    assert!(html.contains("Please try again"), "{html}");
    for leak in ["SELECT", "connection", "panicked", "r2d2", "diesel"] {
        assert!(!html.contains(leak), "the page shows {leak:?}: {html}");
    }

    proxy.restore();

    // The pool re-connects on its own; give it a few seconds.
    let mut healthy = false;
    for _ in 0..100 {
        if app.healthz().await.status() == StatusCode::OK {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the health check did not recover: {}", app.logs());
    api.me().await;
    page.me().await;
    assert!(!app.logs().contains("panicked"), "{}", app.logs());
}
