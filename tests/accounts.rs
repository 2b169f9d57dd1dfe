//! The accounts API over real HTTP: sign up/in/out, reset by email, change password, limits,
//! bad input, and how accounts meet signaling.

mod common;

use common::TestServer;
use serde_json::json;

const PW: &str = "correct horse battery";

#[tokio::test]
async fn sign_up_sign_out_sign_in() {
    let server = TestServer::start().await;
    let r = server
        .post(
            "/api/account/signup",
            json!({"username":"Ann","email":"ann@example.org","password":PW,"confirm":PW}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["user"]["username"], "Ann");
    let set_cookie = r.header("set-cookie").unwrap().to_lowercase();
    assert!(set_cookie.contains("httponly") && set_cookie.contains("samesite=lax"));
    assert!(set_cookie.contains("path=/") && !set_cookie.contains("secure"));
    let cookie = r.session_cookie().unwrap();

    let me = server
        .request("GET", "/api/account/me", None, Some(&cookie), &[])
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["user"]["email"], "ann@example.org");

    let out = server
        .post("/api/account/signout", json!({}), Some(&cookie))
        .await;
    assert_eq!(out.status, 204);
    let me = server
        .request("GET", "/api/account/me", None, Some(&cookie), &[])
        .await;
    assert_eq!(me.status, 401, "the old cookie is revoked");

    for login in ["ann", "ANN", "Ann@Example.org"] {
        let r = server
            .post(
                "/api/account/signin",
                json!({"login":login,"password":PW}),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{login}: {}", r.body);
        assert!(r.session_cookie().is_some());
    }
}

#[tokio::test]
async fn sign_up_explains_every_field_and_taken_names() {
    let server = TestServer::start().await;
    let r = server
        .post(
            "/api/account/signup",
            json!({"username":"a'; DROP TABLE users;--","email":"nope","password":"short","confirm":"short"}),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let fields = &r.json()["fields"];
    for f in ["username", "email", "password"] {
        assert!(
            fields[f].as_str().is_some_and(|m| !m.is_empty()),
            "{f}: {}",
            r.body
        );
    }
    let r = server
        .post(
            "/api/account/signup",
            json!({"username":"ann","email":"ann@example.org","password":PW,"confirm":"different!"}),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["fields"]["confirm"].is_string());

    server.sign_up("ann", "ann@example.org", PW).await;
    let r = server
        .post(
            "/api/account/signup",
            json!({"username":"ANN","email":"other@example.org","password":PW,"confirm":PW}),
            None,
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.json()["fields"]["username"].is_string());
    let r = server
        .post(
            "/api/account/signup",
            json!({"username":"ann2","email":"ANN@example.org","password":PW,"confirm":PW}),
            None,
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.json()["fields"]["email"].is_string());
    // The SQL-looking username was stored nowhere and the table is intact.
    assert_eq!(server.server.store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn wrong_credentials_look_the_same_and_are_rate_limited() {
    let server = TestServer::start().await;
    server.sign_up("ann", "ann@example.org", PW).await;
    let unknown = server
        .post(
            "/api/account/signin",
            json!({"login":"nobody","password":PW}),
            None,
        )
        .await;
    let wrong = server
        .post(
            "/api/account/signin",
            json!({"login":"ann","password":"wrong password"}),
            None,
        )
        .await;
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.status, 401);
    assert_eq!(
        unknown.body, wrong.body,
        "no hint whether the account exists"
    );

    // 10 attempts per account in 5 minutes; the wrong one above was the first.
    let mut last = None;
    for _ in 0..10 {
        last = Some(
            server
                .post(
                    "/api/account/signin",
                    json!({"login":"ann","password":"wrong again"}),
                    None,
                )
                .await,
        );
    }
    let limited = last.unwrap();
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry));
    // Even the right password waits now.
    let r = server
        .post(
            "/api/account/signin",
            json!({"login":"ann","password":PW}),
            None,
        )
        .await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn forgot_and_reset_by_email_link() {
    let server = TestServer::start().await;
    let old_session = server.sign_up("ann", "ann@example.org", PW).await;

    let known = server
        .post(
            "/api/account/forgot",
            json!({"email":"ann@example.org"}),
            None,
        )
        .await;
    let unknown = server
        .post(
            "/api/account/forgot",
            json!({"email":"nobody@example.org"}),
            None,
        )
        .await;
    assert_eq!(known.status, 202);
    assert_eq!(known.body, unknown.body, "same answer either way");

    // The mail is sent in the background; wait for the dev mailbox (bounded).
    let mut mail = None;
    for _ in 0..100 {
        mail = server.last_mail();
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Undo quoted-printable: soft line breaks and the escaped '='.
    let mail = mail
        .expect("a reset mail in the dev mailbox")
        .replace("=\r\n", "")
        .replace("=3D", "=");
    assert!(mail.contains("To: ann@example.org"));
    let token = mail
        .split("/reset?token=")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
        .expect("a reset link");
    assert_eq!(token.len(), 43);

    let new_pw = "a brand new password";
    let mismatch = server
        .post(
            "/api/account/reset",
            json!({"token":token,"password":new_pw,"confirm":"nope nope"}),
            None,
        )
        .await;
    assert_eq!(mismatch.status, 400);
    let ok = server
        .post(
            "/api/account/reset",
            json!({"token":token,"password":new_pw,"confirm":new_pw}),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let again = server
        .post(
            "/api/account/reset",
            json!({"token":token,"password":"yet another one","confirm":"yet another one"}),
            None,
        )
        .await;
    assert_eq!(again.status, 400, "a link works once");
    let forged = server
        .post(
            "/api/account/reset",
            json!({"token":"x".repeat(43),"password":new_pw,"confirm":new_pw}),
            None,
        )
        .await;
    assert_eq!(forged.status, 400);

    let me = server
        .request("GET", "/api/account/me", None, Some(&old_session), &[])
        .await;
    assert_eq!(me.status, 401, "a reset signs out every session");
    let old = server
        .post(
            "/api/account/signin",
            json!({"login":"ann","password":PW}),
            None,
        )
        .await;
    assert_eq!(old.status, 401);
    let new = server
        .post(
            "/api/account/signin",
            json!({"login":"ann","password":new_pw}),
            None,
        )
        .await;
    assert_eq!(new.status, 200);
}

#[tokio::test]
async fn change_password_keeps_this_session_and_revokes_others() {
    let server = TestServer::start().await;
    let here = server.sign_up("ann", "ann@example.org", PW).await;
    let elsewhere = server
        .post(
            "/api/account/signin",
            json!({"login":"ann","password":PW}),
            None,
        )
        .await
        .session_cookie()
        .unwrap();
    let wrong = server
        .post("/api/account/password", json!({"current":"not it at all","password":"new password 1","confirm":"new password 1"}), Some(&here))
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.json()["fields"]["current"].is_string());
    let ok = server
        .post(
            "/api/account/password",
            json!({"current":PW,"password":"new password 1","confirm":"new password 1"}),
            Some(&here),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let fresh = ok
        .session_cookie()
        .expect("a fresh session for this browser");
    assert_eq!(
        server
            .request("GET", "/api/account/me", None, Some(&fresh), &[])
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .request("GET", "/api/account/me", None, Some(&elsewhere), &[])
            .await
            .status,
        401
    );
    let anonymous = server
        .post(
            "/api/account/password",
            json!({"current":PW,"password":"x","confirm":"x"}),
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn cross_site_posts_and_bad_bodies_are_refused() {
    let server = TestServer::start().await;
    let body = json!({"login":"ann","password":PW}).to_string();
    let evil = server
        .request(
            "POST",
            "/api/account/signin",
            Some(&body),
            None,
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(evil.status, 403);
    let cross = server
        .request(
            "POST",
            "/api/account/signin",
            Some(&body),
            None,
            &[("Sec-Fetch-Site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, 403);
    let origin = format!("http://{}", server.addr());
    let same = server
        .request(
            "POST",
            "/api/account/signin",
            Some(&body),
            None,
            &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
        )
        .await;
    assert_eq!(same.status, 401, "same-origin requests go through");

    for bad in ["not json", "{\"login\":5}", "[]", "{\"login\":\"\\ud800\"}"] {
        let r = server
            .request("POST", "/api/account/signin", Some(bad), None, &[])
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    let huge = format!(
        "{{\"login\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(20_000)
    );
    let r = server
        .request("POST", "/api/account/signin", Some(&huge), None, &[])
        .await;
    assert_eq!(r.status, 413);

    for cookie in [
        "confer_session=garbage",
        "confer_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "confer_session=",
    ] {
        let r = server
            .request("GET", "/api/account/me", None, Some(cookie), &[])
            .await;
        assert_eq!(r.status, 401, "{cookie}");
    }
    assert_eq!(server.get("/healthz").await.0, 200, "still up");
}

#[tokio::test]
async fn signed_in_people_call_under_their_username_and_guests_cannot_take_it() {
    let server = TestServer::start().await;
    let ann_cookie = server.sign_up("ann", "ann@example.org", PW).await;
    let ben_cookie = server.sign_up("ben", "ben@example.org", PW).await;
    let (mut ann, welcome) = server.client_with_cookie(&ann_cookie).await;
    assert_eq!(welcome["user"], "ann");
    let (mut ben, _) = server.client_with_cookie(&ben_cookie).await;

    let mut guest = server.client().await;
    guest.send(json!({"type":"register","name":"Ann"})).await;
    guest.expect_error("name_taken").await;
    guest
        .send(json!({"type":"join","room":"r","name":"BEN"}))
        .await;
    guest.expect_error("name_taken").await;
    ann.send(json!({"type":"register","name":"someone-else"}))
        .await;
    ann.expect_error("invalid_name").await;

    // No register needed: signed-in people are callable at once.
    ann.send(json!({"type":"call","user":"ben"})).await;
    let call = ann.expect("calling").await["call"].clone();
    assert_eq!(ben.expect("incoming_call").await["from"]["name"], "ann");
    ben.send(json!({"type":"decline","call":call})).await;
    ann.expect("call_declined").await;

    ann.send(json!({"type":"call","user":"ben"})).await;
    let call2 = ann.expect("calling").await["call"].clone();
    ben.expect("call_ended").await;
    ben.expect("incoming_call").await;
    ben.send(json!({"type":"accept","call":call2})).await;
    ann.expect("call_accepted").await;
    ben.expect("call_accepted").await;
    ann.send(json!({"type":"hangup"})).await;
    ben.expect("call_ended").await;

    // The call log is written in the background; poll it briefly.
    let mut calls = serde_json::Value::Null;
    for _ in 0..100 {
        let r = server
            .request("GET", "/api/calls/recent", None, Some(&ann_cookie), &[])
            .await;
        calls = r.json()["calls"].clone();
        let done = calls
            .as_array()
            .is_some_and(|c| c.len() == 2 && c[0]["ended_at"].is_i64());
        if done {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let calls = calls.as_array().expect("recent calls");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["outcome"], "answered");
    assert_eq!(calls[0]["direction"], "outgoing");
    assert_eq!(calls[0]["other"], "ben");
    assert_eq!(calls[1]["outcome"], "declined");
    let bens = server
        .request("GET", "/api/calls/recent", None, Some(&ben_cookie), &[])
        .await;
    assert_eq!(bens.json()["calls"][0]["direction"], "incoming");
    assert_eq!(
        server
            .request("GET", "/api/calls/recent", None, None, &[])
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn without_guests_only_signed_in_people_join() {
    let server = TestServer::start_with(|c| c.guests = false).await;
    let cookie = server.sign_up("ann", "ann@example.org", PW).await;
    let (mut ann, _) = server.client_with_cookie(&cookie).await;
    ann.send(json!({"type":"join","room":"r","name":"ignored"}))
        .await;
    assert_eq!(ann.expect("joined").await["you"]["name"], "ann");
    let mut guest = server.client().await;
    guest
        .send(json!({"type":"join","room":"r","name":"Gus"}))
        .await;
    guest.expect_error("sign_in_required").await;
}
