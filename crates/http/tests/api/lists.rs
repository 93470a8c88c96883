use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn limit_outside_1_to_100_gets_422() {
    let app = spawn_app();
    for limit in ["0", "101", "ten", "-1"] {
        let r = app.get(&format!("/v1/contacts?limit={limit}")).await;
        assert_eq!(r.status, 422, "{limit}: {}", r.text);
        assert_eq!(r.problem_code(), "validation_failed");
        assert!(r.has_error("limit", "invalid_value"), "{}", r.text);
    }
}

#[tokio::test]
async fn bad_query_parameters_are_all_listed() {
    let app = spawn_app();
    let r = app.get("/v1/contacts?kind=hq&cursor=zz&sort=name").await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.has_error("kind", "invalid_value"), "{}", r.text);
    assert!(r.has_error("cursor", "invalid_cursor"), "{}", r.text);
    assert!(r.has_error("sort", "unknown_field"), "{}", r.text);
}

#[tokio::test]
async fn lists_page_through_contacts_in_id_order_with_a_cursor() {
    let app = spawn_app();
    for i in 0..5 {
        let r = app.json("POST", "/v1/contacts", &a_contact(&format!("l{i}@example.com")), &[]).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut seen = Vec::new();
    let mut path = "/v1/contacts?limit=2".to_owned();
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let data = r.body["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        if r.body["has_more"] == json!(false) {
            assert_eq!(r.body["next_cursor"], json!(null));
            break;
        }
        path = format!("/v1/contacts?limit=2&cursor={}", r.body["next_cursor"].as_str().unwrap());
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

#[tokio::test]
async fn lists_filter_by_email_and_kind() {
    let app = spawn_app();
    app.json("POST", "/v1/contacts", &a_contact("f1@example.com"), &[]).await;
    app.json("POST", "/v1/contacts", &a_user("f2@example.com"), &[]).await;
    let r = app.get("/v1/contacts?kind=user").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = app.get("/v1/contacts?email=f1%40example.com").await;
    assert_eq!(r.body["data"][0]["email"], json!("f1@example.com"), "{}", r.text);
    assert_eq!(r.body["has_more"], json!(false));
}
