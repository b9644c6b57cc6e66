// Agora's service worker: shows each Web Push as a browser notification, and opens the
// notifications page when one is clicked. The push is Mastodon's payload (title, body,
// icon, notification_id, notification_type), decrypted by the browser.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: event.data.text() }; }
  var title = data.title || "New notification";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "",
    icon: data.icon || "/static/favicon.svg",
    tag: data.notification_id ? "notification-" + data.notification_id : undefined,
    data: { url: "/notifications", type: data.notification_type || "" }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/notifications";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (open) {
    for (var i = 0; i < open.length; i++) {
      if ("focus" in open[i]) { open[i].navigate(url); return open[i].focus(); }
    }
    return self.clients.openWindow(url);
  }));
});
