// node-apn 1.x against the binary gateway and the feedback service, used as its README showed. Only the
// address, port and trusted CA come from the environment. Prints one JSON line per event it reports.
"use strict";
const fs = require("fs");
const apn = require("apn");

const env = process.env;
const tls = { cert: fs.readFileSync(env.CERT_FILE), key: fs.readFileSync(env.KEY_FILE), ca: fs.readFileSync(env.CA_FILE) };
const say = (event) => console.log(JSON.stringify(event));

if (process.argv[2] === "feedback") {
  const feedback = new apn.Feedback(Object.assign({ address: env.APNS_HOST, port: Number(env.APNS_PORT),
    batchFeedback: true, interval: 0 }, tls));
  feedback.on("feedback", (items) => {
    say({ event: "feedback", items: items.map((i) => ({ time: i.time, token: i.device.toString() })) });
    process.exit(0);
  });
  feedback.on("feedbackError", (err) => { say({ event: "feedbackError", error: String(err) }); process.exit(1); });
  feedback.start();
} else {
  const connection = new apn.Connection(Object.assign({ address: env.APNS_HOST, port: Number(env.APNS_PORT) }, tls));
  connection.on("transmitted", (note, device) => say({ event: "transmitted", token: device.toString() }));
  connection.on("transmissionError", (code, note, device) =>
    say({ event: "transmissionError", code: code, token: device ? device.toString() : null }));
  connection.on("error", (err) => say({ event: "error", error: String(err) }));
  for (const token of env.DEVICE_TOKENS.split(",")) {
    const note = new apn.Notification();
    note.expiry = Math.floor(Date.now() / 1000) + 3600;
    note.alert = env.MESSAGE;
    note.sound = "default";
    connection.pushNotification(note, new apn.Device(token));
  }
  setTimeout(() => { connection.shutdown(); process.exit(0); }, Number(env.WAIT_MS || 1500));
}
