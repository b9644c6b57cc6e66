// megalodon (the client library of the Whalebird desktop app) against a real `agora serve`:
// Alice and Bob through its Mastodon adapter, Bob also through its WebSocket streaming client.
// Run by tests/test_real_clients_megalodon.py with the Node 22 binary `make vendor` installs;
// it prints one JSON object of what it saw, which the Python test checks. Environment:
// AGORA_URL, ALICE_TOKEN, BOB_TOKEN. megalodon 10 has no grouped notifications and speaks
// filters v1 only (Agora answers them from its v2 filters).
const generator = require("megalodon").default;

const url = process.env.AGORA_URL;
const alice = generator("mastodon", url, process.env.ALICE_TOKEN);
const bob = generator("mastodon", url, process.env.BOB_TOKEN);
const out = {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check, seconds) {
  for (let i = 0; i < seconds * 10; i++) {
    const found = await check();
    if (found) return found;
    await sleep(100);
  }
  return null;
}

async function main() {
  out.version = (await bob.getInstance()).data.version;
  const aliceMe = (await alice.verifyAccountCredentials()).data;
  out.following = (await bob.followAccount(aliceMe.id)).data.following;

  // Bob's user stream hears Alice's post as a home update.
  const stream = await bob.userStreaming();
  const heard = [];
  stream.on("update", (status) => heard.push(status.id));
  stream.on("error", () => {});
  let post = null;
  for (let attempt = 0; attempt < 4 && !(post && heard.includes(post.id)); attempt++) {
    await sleep(300 * (attempt + 1)); // the socket opens; then post (again) until it is heard
    post = (await alice.postStatus("hello from megalodon, #spoiler inside")).data;
    await until(() => heard.includes(post.id), 3);
  }
  stream.stop();
  out.streamed = heard.includes(post.id);

  const home = (await bob.getHomeTimeline({ limit: 5 })).data;
  out.home = home.map((s) => s.id).includes(post.id);
  out.favourited = (await bob.favouriteStatus(post.id)).data.favourited;
  const notes = await until(async () => {
    const found = (await alice.getNotifications({ limit: 10 })).data;
    const liked = found.filter((n) => n.type === "favourite" && n.status?.id === post.id);
    return liked.length ? liked : null; // made by a job: wait for it
  }, 15);
  out.notified = (notes || []).map((n) => n.account.acct);

  const made = (await bob.createFilter("spoiler", ["home"], { whole_word: true })).data;
  out.filter = [made.phrase, made.context, made.whole_word];
  out.filters = (await bob.getFilters()).data.map((f) => f.phrase);
  await bob.deleteFilter(made.id);
  out.filtersAfter = (await bob.getFilters()).data.length;

  out.muted = (await alice.muteStatus(post.id)).data.muted;
  out.unmuted = (await alice.unmuteStatus(post.id)).data.muted;
  console.log(JSON.stringify(out));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.log(`ERROR ${err.message} ${JSON.stringify(err.response && err.response.data)}`);
    process.exit(1);
  },
);
