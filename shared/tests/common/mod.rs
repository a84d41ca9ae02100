//! Helpers the conformance tests share.

/// Serves these bytes at a URL the emulators can fetch.
pub async fn file_server(bytes: Vec<u8>) -> String {
    let app = axum::Router::new().route(
        "/file",
        axum::routing::get(move || {
            let bytes = bytes.clone();
            async move { bytes }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/file", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
