// Renkei: the browser's side of a security-key ceremony. The page carries the
// server's options (WebAuthn's JSON forms) in #passkey's data-options; the button
// asks the browser for the key, and the answer goes back in the form's hidden
// "credential" field.
"use strict";
(function () {
  const box = document.getElementById("passkey");
  if (!box) return;
  const form = document.getElementById(box.dataset.form);
  const button = document.getElementById(box.dataset.button);
  const failed = document.getElementById("passkey-failed");
  const unsupported = document.getElementById("passkey-unsupported");
  const pkc = window.PublicKeyCredential;
  if (!pkc || !pkc.parseCreationOptionsFromJSON || !pkc.parseRequestOptionsFromJSON) {
    if (unsupported) unsupported.hidden = false;
    return;
  }
  button.hidden = false;
  button.addEventListener("click", async function (event) {
    event.preventDefault();
    if (failed) failed.hidden = true;
    button.disabled = true;
    try {
      const options = JSON.parse(box.dataset.options);
      const publicKey = options.publicKey || options;
      const credential = box.dataset.kind === "create"
        ? await navigator.credentials.create({ publicKey: pkc.parseCreationOptionsFromJSON(publicKey) })
        : await navigator.credentials.get({ publicKey: pkc.parseRequestOptionsFromJSON(publicKey) });
      form.elements.credential.value = JSON.stringify(credential.toJSON());
      form.submit();
    } catch (error) {
      button.disabled = false;
      if (failed) {
        failed.hidden = false;
        failed.dataset.reason = String(error && error.name || error);
      }
    }
  });
})();
