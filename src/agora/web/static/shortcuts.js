// Keyboard shortcuts on timelines, as Mastodon's web app has them (no build step, no
// inline script: the CSP forbids them). Loaded only on pages with a feed (#timeline).
//   j / k  next / previous post      f  like      b  boost      r  reply
//   n      write a new post          ?  show or hide this help     Esc  close / leave
// Keys typed into a field, or with Ctrl / Alt / Meta, are left alone.
(function () {
  "use strict";
  var feed = document.getElementById("timeline");
  if (!feed) return;
  var currentId = null;  // the focused post's element id, kept across HTMX swaps

  function posts() {
    return Array.prototype.filter.call(feed.querySelectorAll("article.post"), function (el) {
      return el.parentElement && !el.parentElement.closest("article.post");
    });
  }

  function current() {
    return currentId ? document.getElementById(currentId) : null;
  }

  function select(post) {
    var old = current();
    if (old) old.classList.remove("kb-focus");
    if (!post) return;
    currentId = post.id;
    post.classList.add("kb-focus");
    post.setAttribute("tabindex", "-1");
    post.focus({ preventScroll: true });
    post.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var list = posts();
    if (!list.length) return;
    var at = list.indexOf(current());
    var next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
    select(list[next]);
  }

  function press(action) {
    var post = current();
    var button = post && post.querySelector('button[data-action="' + action + '"]');
    if (button) button.click();
  }

  function help() {
    var box = document.getElementById("kb-help");
    if (box) { box.open ? box.close() : box.showModal(); return; }
    box = document.createElement("dialog");
    box.id = "kb-help";
    box.className = "kb-help";
    box.setAttribute("aria-labelledby", "kb-help-title");
    var title = document.createElement("h2");
    title.id = "kb-help-title";
    title.textContent = "Keyboard shortcuts";
    box.appendChild(title);
    var list = document.createElement("dl");
    [["j", "Next post"], ["k", "Previous post"], ["f", "Like"], ["b", "Boost"],
     ["r", "Reply"], ["n", "New post"], ["?", "This help"], ["Esc", "Close"]].forEach(function (pair) {
      var key = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = pair[0];
      key.appendChild(kbd);
      var what = document.createElement("dd");
      what.textContent = pair[1];
      list.appendChild(key);
      list.appendChild(what);
    });
    box.appendChild(list);
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", function () { box.close(); });
    box.appendChild(close);
    document.body.appendChild(box);
    box.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    var target = event.target;
    var typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (event.key === "Escape") {
      if (typing) target.blur();
      return;
    }
    if (typing) return;
    var actions = {
      j: function () { move(1); },
      k: function () { move(-1); },
      f: function () { press("favourite"); },
      b: function () { press("reblog"); },
      r: function () {
        var post = current();
        var link = post && post.querySelector('a.act[href$="#reply"]');
        if (link) window.location.assign(link.href);
      },
      n: function () {
        var text = document.querySelector("form.composer textarea");
        if (text) text.focus();
      },
      "?": help
    };
    var action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  // A like or boost swaps the post's HTML (and HTMX settles its attributes afterwards):
  // keep it marked.
  document.addEventListener("htmx:afterSettle", function () {
    var post = current();
    if (post) post.classList.add("kb-focus");
  });
})();
