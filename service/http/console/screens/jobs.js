// Jobs with their progress, fed live by the jobProgress subscription.
import { html, useEffect, useState } from "/static/preact-htm.module.js";
import { subscribe } from "../api.js";
import { Loading, Problem, useQuery, when } from "../ui.js";

function Job({ job, onPoll }) {
  const [now, setNow] = useState(job);
  useEffect(() => {
    if (!["QUEUED", "RUNNING"].includes(job.status)) return undefined;
    let poll = null;
    const stop = subscribe("ConsoleJobProgress", { jobId: job.id },
                           (data) => setNow((was) => ({ ...was, ...data.jobProgress })),
                           // Live updates refused or lost: ask every two seconds instead.
                           () => { poll = poll || setInterval(onPoll, 2000); });
    return () => { stop(); if (poll) clearInterval(poll); };
  }, [job.id]);
  const percent = Math.round(now.progress.percent);
  return html`<tr>
    <td>${`${job.kind.toLowerCase().replace(/_/g, " ")}${job.solutionInterest
      ? ` · ${job.solutionInterest.name}` : ""}`}</td>
    <td data-testid="job-status">${now.status.toLowerCase()}</td>
    <td><progress max="100" value=${now.status === "SUCCEEDED" ? 100 : percent}
      aria-label=${`Progress of the ${job.kind.toLowerCase()} job`}>${percent} %</progress>
      <span class="value" data-testid="job-percent">${now.status === "SUCCEEDED" ? 100
        : percent} %</span></td>
    <td>${now.buyingGroupsCreated ?? job.buyingGroupsCreated}</td>
    <td>${when(job.createdAt)}</td>
    <td>${now.error || ""}</td></tr>`;
}

export function Jobs() {
  const { data, error, loading, reload } = useQuery("ConsoleJobs", {});
  if (error) return html`<${Problem} error=${error} />`;
  if (loading && !data) return html`<${Loading} />`;
  return html`<section aria-labelledby="jobs-title"><h1 id="jobs-title">Jobs</h1>
    <table class="list"><thead><tr><th scope="col">Job</th><th scope="col">Status</th>
      <th scope="col">Progress</th><th scope="col">Groups created</th>
      <th scope="col">Started</th><th scope="col">Error</th></tr></thead>
    <tbody>${data.buyingGroupJobs.nodes.map((j) => html`<${Job} key=${j.id + j.status} job=${j}
      onPoll=${reload} />`)}
    </tbody></table></section>`;
}
