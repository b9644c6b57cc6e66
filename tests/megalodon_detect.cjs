// Prints what megalodon's detector() (the Whalebird desktop app's adapter choice) makes of
// the server at argv[2]: "mastodon", "pleroma", ... or "ERROR <message>" with exit code 1.
const { detector } = require("megalodon");

detector(process.argv[2]).then(
  (sns) => console.log(sns),
  (err) => {
    console.log(`ERROR ${err.message}`);
    process.exitCode = 1;
  },
);
