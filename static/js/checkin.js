/* Check-in desk (events/organiser/checkin.html): one tap checks a person in without
   reloading; without JavaScript the form posts and the page reloads. */
document.addEventListener("submit", async (e) => {
  const form = e.target.closest("form.checkin-toggle");
  if (!form) return;
  e.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(form.action, {method: "POST", body: new FormData(form), headers: {"Accept": "application/json"}, credentials: "same-origin"});
    const data = await response.json();
    if (!data.ok) { alert(data.error); return; }
    const attended = data.status === "attended";
    form.querySelector("input[name=attended]").value = attended ? "0" : "1";
    button.textContent = attended ? button.dataset.undo : button.dataset.mark;
    button.classList.toggle("done", attended);
    for (const [key, value] of Object.entries(data.counts)) {
      const el = document.querySelector(`[data-count="${key}"]`);
      if (el) el.textContent = value;
    }
  } catch (err) { form.submit(); } finally { button.disabled = false; }
});
