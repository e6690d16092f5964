// GOV.UK Frontend's components (the error summary's focus, character counts, and so on).
// Every page works without it.
import { initAll } from "/static/govuk-frontend.min.js";
initAll();
