// Agora's own script (no build step, no inline scripts: the CSP forbids them).
// - shows HTMX errors in the #flash live region;
// - resets the composer after a post;
// - the image lightbox;
// - live updates: listens to /web/live (server-sent events) and inserts new posts and
//   notifications, fetched as HTML fragments so the server decides what may be shown;
// - the browser-notifications switch (service worker /sw.js, Web Push);
// - a slider's <output for=…> shows its value as it moves (For You weights).
(function () {
  "use strict";

  function flash(text) {
    var box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.classList.add("shown");
    clearTimeout(flash.timer);
    flash.timer = setTimeout(function () { box.classList.remove("shown"); box.textContent = ""; }, 6000);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    flash(xhr.responseText && xhr.responseText.length < 300 ? xhr.responseText : "Something went wrong (" + xhr.status + ")");
  });
  document.addEventListener("htmx:sendError", function () { flash("The server cannot be reached."); });

  // A scheduled post's time is typed in local time: its offset from UTC goes along with it.
  document.querySelectorAll("[data-utc-offset]").forEach(function (input) {
    input.value = String(-new Date().getTimezoneOffset());
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (event.detail.successful && form.classList && form.classList.contains("composer") && form.tagName === "FORM") {
      form.reset();
      var key = form.querySelector("input[name=idempotency]");
      if (key) key.value = String(Date.now()) + String(Math.random()).slice(2, 8);
      var text = form.querySelector("textarea");
      if (text) text.focus();
      flash("Posted.");
    }
  });

  // The lightbox: a thumbnail opens its image in a modal <dialog> with its alt text as the
  // caption; Esc (the dialog's own), the Close button or a click outside close it, and focus
  // goes back to the thumbnail.
  var lightboxOpener = null;

  function lightbox() {
    var dialog = document.getElementById("lightbox");
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.id = "lightbox";
    dialog.className = "lightbox";
    dialog.setAttribute("aria-label", "Image");
    var close = document.createElement("button");
    close.type = "button";
    close.className = "lightbox-close";
    close.textContent = "Close";
    close.addEventListener("click", function () { dialog.close(); });
    var figure = document.createElement("figure");
    figure.appendChild(document.createElement("img"));
    figure.appendChild(document.createElement("figcaption"));
    dialog.appendChild(close);
    dialog.appendChild(figure);
    dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
    dialog.addEventListener("close", function () {
      dialog.querySelector("img").removeAttribute("src");
      if (lightboxOpener && document.contains(lightboxOpener)) lightboxOpener.focus();
      lightboxOpener = null;
    });
    document.body.appendChild(dialog);
    return dialog;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-lightbox]") : null;
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    var dialog = lightbox();
    if (!dialog.showModal) return; // no <dialog> support: the link opens the image
    event.preventDefault();
    var thumb = link.querySelector("img");
    var text = thumb ? thumb.getAttribute("alt") : "";
    var img = dialog.querySelector("img");
    img.src = link.href;
    img.alt = text || "";
    dialog.querySelector("figcaption").textContent = text || "No description.";
    lightboxOpener = link;
    dialog.showModal();
    dialog.querySelector(".lightbox-close").focus();
  });

  function insertFragment(url, container, id) {
    if (!container || document.getElementById(id)) return;
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html || document.getElementById(id)) return;
        var template = document.createElement("template");
        template.innerHTML = html;
        var node = template.content.firstElementChild;
        if (!node) return;
        node.classList.add("fresh");
        container.insertBefore(node, container.firstElementChild);
        var empty = container.querySelector(".empty");
        if (empty) empty.remove();
        if (window.htmx) window.htmx.process(node);
      });
  }

  function bumpBadge() {
    var badge = document.getElementById("notif-badge");
    if (!badge) return;
    var count = (parseInt(badge.dataset.count || "0", 10) || 0) + 1;
    badge.dataset.count = String(count);
    badge.textContent = String(count);
    badge.hidden = false;
    badge.setAttribute("aria-label", count + " new");
  }

  function connect() {
    var url = document.body.dataset.live;
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    var feed = document.querySelector("[data-live-feed]");
    var kind = feed ? feed.dataset.liveFeed : "";
    source.addEventListener("update", function (event) {
      if (kind !== "home") return;
      var status = JSON.parse(event.data);
      insertFragment("/web/statuses/" + status.id, feed, "post-" + status.id);
    });
    source.addEventListener("notification", function (event) {
      var note = JSON.parse(event.data);
      if (kind === "notifications") {
        insertFragment("/web/notifications/" + note.id, feed, "notification-" + note.id);
      } else {
        bumpBadge();
        flash("New notification");
      }
    });
    source.addEventListener("delete", function (event) {
      var node = document.getElementById("post-" + event.data);
      if (node) node.remove();
    });
  }

  // The composer's assistant helpers: "Use this" puts the suggestion into the draft.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-use-suggestion]");
    if (!button) return;
    var form = button.closest("form");
    var text = form && form.querySelector("textarea[name=status]");
    var suggestion = button.parentElement.querySelector(".suggestion-text");
    if (!text || !suggestion) return;
    text.value = suggestion.textContent;
    button.parentElement.remove();
    text.focus();
  });

  // Chat with the assistant: the answer streams in as server-sent events read from the
  // POST's response (token, then done with the rendered messages, or error).
  function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var blocks = buffer.split("\n\n");
        buffer = blocks.pop();
        blocks.forEach(function (block) {
          var name = "message";
          var data = "";
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event: ") === 0) name = line.slice(7);
            else if (line.indexOf("data: ") === 0) data += line.slice(6);
          });
          if (data) onEvent(name, JSON.parse(data));
        });
        return pump();
      });
    }
    return pump();
  }

  function bubble(log, role, text) {
    var item = document.createElement("li");
    item.className = "msg " + role;
    var who = document.createElement("p");
    who.className = "who";
    who.textContent = role === "user" ? "You" : "Assistant (AI-generated, writing…)";
    var body = document.createElement("p");
    body.className = "plain";
    body.textContent = text;
    item.appendChild(who);
    item.appendChild(body);
    log.appendChild(item);
    return item;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-chat") || !window.fetch || !window.TextDecoder) return;
    event.preventDefault();
    var log = document.getElementById("chat-log");
    var data = new FormData(form);
    var button = form.querySelector("button[type=submit]");
    var asked = bubble(log, "user", String(data.get("content") || ""));
    var answer = bubble(log, "assistant", "");
    answer.setAttribute("aria-busy", "true");
    var answerText = answer.querySelector(".plain");
    button.disabled = true;
    function done() { button.disabled = false; answer.removeAttribute("aria-busy"); }
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin", headers: { Accept: "text/event-stream", "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) {
          return response.text().then(function (text) { throw new Error(text.length < 300 ? text : "The assistant could not answer (" + response.status + ")"); });
        }
        form.reset();
        return readEvents(response, function (name, payload) {
          if (name === "token") answerText.textContent += payload.text;
          else if (name === "error") { answerText.textContent = payload.error; answer.classList.add("error"); }
          else if (name === "done") {
            var template = document.createElement("template");
            template.innerHTML = payload.html;
            asked.remove();
            answer.replaceWith(template.content);
            form.querySelector("input[name=conversation_id]").value = payload.conversation_id;
            if (window.history && location.pathname !== payload.url) history.replaceState(null, "", payload.url);
          }
        });
      })
      .catch(function (error) { asked.remove(); answer.remove(); flash(error.message); })
      .then(done, done);
  });

  // Browser notifications (/settings/notifications): the switch asks for permission,
  // registers the service worker (/sw.js), subscribes with the server's VAPID key and hands
  // the subscription to the server, which pushes through the same jobs as for phone apps.
  function base64UrlToBytes(text) {
    var padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function bytesToBase64Url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function pushPost(url, fields) {
    var body = new URLSearchParams(fields || {});
    var token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"];
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-Token": token } })
      .then(function (response) {
        return response.text().then(function (text) {
          if (!response.ok) throw new Error(text.length < 300 ? text : "Could not save (" + response.status + ")");
          return text;
        });
      });
  }

  function pushSwitch() {
    var box = document.getElementById("push-settings");
    var button = document.getElementById("push-toggle");
    if (!box || !button) return;
    var state = document.getElementById("push-state");
    function show(on, text) {
      box.setAttribute("data-subscribed", on ? "true" : "false");
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Turn off browser notifications" : "Turn on browser notifications";
      state.textContent = text;
    }
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      button.disabled = true;
      state.textContent = "This browser cannot show notifications from websites.";
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      var on = box.getAttribute("data-subscribed") === "true";
      var done = function () { button.disabled = false; };
      if (on) {
        navigator.serviceWorker.getRegistration("/").then(function (registration) {
          return registration && registration.pushManager.getSubscription();
        }).then(function (subscription) {
          return subscription && subscription.unsubscribe();
        }).catch(function () {}).then(function () {
          return pushPost("/web/push/unsubscribe");
        }).then(function (text) { show(false, text); }, function (error) { flash(error.message); }).then(done, done);
        return;
      }
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") throw new Error("The browser did not allow notifications.");
        return navigator.serviceWorker.register("/sw.js", { scope: "/" });
      }).then(function () {
        return navigator.serviceWorker.ready;
      }).then(function (registration) {
        return registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: base64UrlToBytes(box.getAttribute("data-vapid-key"))
        });
      }).then(function (subscription) {
        return pushPost("/web/push/subscription", {
          endpoint: subscription.endpoint,
          p256dh: bytesToBase64Url(subscription.getKey("p256dh")),
          auth: bytesToBase64Url(subscription.getKey("auth"))
        });
      }).then(function (text) { show(true, text); }, function (error) {
        state.textContent = error.message;
        flash(error.message);
      }).then(done, done);
    });
  }

  document.addEventListener("input", function (event) {
    var slider = event.target;
    if (!slider || slider.type !== "range" || !slider.id) return;
    var shown = document.querySelector('output[for="' + slider.id + '"]');
    if (shown) shown.textContent = Number(slider.value).toFixed(2);
  });

  function start() {
    connect();
    pushSwitch();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
