// masto.js (the client library of Elk and Phanpy) against a real `agora serve`: two people,
// Alice and Bob, use the REST client and Bob the WebSocket streaming client, as those apps do.
// Run by tests/test_real_clients_masto.py with the Node 22 binary `make vendor` installs; it
// prints one JSON object of what it saw, which the Python test checks. Environment:
// AGORA_URL, ALICE_TOKEN, BOB_TOKEN, IMAGE (a PNG file to upload).
import { readFile } from "node:fs/promises";
import { createRestAPIClient, createStreamingAPIClient } from "masto";

const url = process.env.AGORA_URL;
const alice = createRestAPIClient({ url, accessToken: process.env.ALICE_TOKEN, log: "error" });
const bob = createRestAPIClient({ url, accessToken: process.env.BOB_TOKEN, log: "error" });
const out = {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check, seconds = 15) {
  for (let i = 0; i < seconds * 10; i++) {
    const found = await check();
    if (found) return found;
    await sleep(100);
  }
  return null;
}

const instance = await bob.v2.instance.fetch();
out.instance = {
  streaming: instance.configuration.urls.streaming,
  apiVersions: instance.apiVersions ?? null,
  version: instance.version,
};
const aliceMe = await alice.v1.accounts.verifyCredentials();
const bobMe = await bob.v1.accounts.verifyCredentials();
out.usernames = [aliceMe.username, bobMe.username];
out.following = (await bob.v1.accounts.$select(aliceMe.id).follow()).following;

// Bob listens on the user stream over a WebSocket while Alice mentions him.
const streaming = createStreamingAPIClient({
  streamingApiUrl: instance.configuration.urls.streaming,
  accessToken: process.env.BOB_TOKEN,
  implementation: WebSocket,
  log: "error",
});
const events = [];
const subscription = streaming.user.subscribe();
const listening = (async () => {
  for await (const event of subscription) {
    events.push({ event: event.event, payload: event.payload });
  }
})();
let mention = null;
for (let attempt = 0; attempt < 4 && !events.some((e) => e.event === "update"); attempt++) {
  await sleep(500 * (attempt + 1)); // the socket opens; then post (again) until it is heard
  mention = await alice.v1.statuses.create({ status: `@${bobMe.username} hello from masto.js` });
  await until(() => events.some((e) => e.event === "update" && e.payload.id === mention.id), 5);
}
await until(() => events.some((e) => e.event === "notification"), 10);
out.stream = {
  update: events.some((e) => e.event === "update" && e.payload.id === mention.id),
  notification: events
    .filter((e) => e.event === "notification")
    .map((e) => [e.payload.type, e.payload.status?.id === mention.id]),
};
subscription.unsubscribe();
streaming.close();
await Promise.race([listening, sleep(2000)]);

// Home timeline paged through the Link headers, one post a page.
const posted = [];
for (const text of ["one", "two", "three"]) {
  posted.push((await alice.v1.statuses.create({ status: `page ${text}` })).id);
}
await until(async () => {
  const page = await bob.v1.timelines.home.list({ limit: 3 });
  return page.some((s) => s.id === posted[2]);
});
const paged = [];
for await (const page of bob.v1.timelines.home.list({ limit: 1 })) {
  paged.push(...page.map((s) => s.id));
  if (paged.length >= 3) break;
}
out.paged = paged;
out.posted = [...posted].reverse();

// A favourite reaches Alice's notifications.
await bob.v1.statuses.$select(posted[0]).favourite();
const favourited = await until(async () => {
  const notifications = await alice.v1.notifications.list({ types: ["favourite"] });
  return notifications.find((n) => n.status?.id === posted[0]);
});
out.favourite = favourited ? favourited.account.id === bobMe.id : false;

// A filter v2 (camelCase in masto, snake_case on the wire) marks a matching post.
const filter = await bob.v2.filters.create({
  title: "spoilers",
  context: ["home"],
  filterAction: "warn",
  keywordsAttributes: [{ keyword: "spoiler", wholeWord: true }],
});
out.filterListed = (await bob.v2.filters.list()).some((f) => f.id === filter.id);
const spoiler = await alice.v1.statuses.create({ status: "a big spoiler here" });
const filtered = await until(async () => {
  const page = await bob.v1.timelines.home.list({ limit: 5 });
  return page.find((s) => s.id === spoiler.id);
});
out.filtered = filtered?.filtered?.map((r) => [r.filter.title, r.keywordMatches]) ?? null;
await bob.v2.filters.$select(filter.id).remove();

// A direct message becomes a conversation for Bob.
const secret = await alice.v1.statuses.create({
  status: `@${bobMe.username} just between us`,
  visibility: "direct",
});
const conversation = await until(async () => {
  const conversations = await bob.v1.conversations.list();
  return conversations.find((c) => c.lastStatus?.id === secret.id);
});
out.conversation = conversation
  ? { unread: conversation.unread, with: conversation.accounts.map((a) => a.id) }
  : null;
out.aliceId = aliceMe.id;

// An image through /api/v2/media (masto waits for processing), attached to a post.
const image = new Blob([await readFile(process.env.IMAGE)], { type: "image/png" });
const media = await alice.v2.media.create({ file: image, description: "a red square" });
const withMedia = await alice.v1.statuses.create({ status: "a picture", mediaIds: [media.id] });
out.media = withMedia.mediaAttachments.map((m) => [m.type, m.description, Boolean(m.url)]);

// Grouped notifications, when the server says it speaks that API (api_versions.mastodon >= 2).
if ((instance.apiVersions?.mastodon ?? 1) >= 2) {
  const grouped = await alice.v2.notifications.list({ groupedTypes: ["favourite"] });
  out.grouped = grouped.notificationGroups.map((g) => [g.type, g.notificationsCount]);
}

console.log(JSON.stringify(out));
