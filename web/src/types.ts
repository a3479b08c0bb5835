// The API's records as the pages read them (fields the pages do not need are left out).
import type { Sla } from "./components/common";

export interface Task {
  id: string;
  name?: string | null;
  elementId?: string | null;
  taskDefinitionKey?: string | null;
  processKey?: string | null;
  processName?: string | null;
  definitionId?: string | null;
  instanceId?: string | null;
  processInstanceId?: string | null;
  businessKey?: string | null;
  caseId?: string | null;
  status?: string | null;
  assignee?: string | null;
  owner?: string | null;
  queue?: string | null;
  queueId?: string | null;
  queueName?: string | null;
  priority?: number | null;
  createdAt?: string | null;
  dueAt?: string | null;
  followUpAt?: string | null;
  sla?: Sla | null;
  formKey?: string | null;
  outcomes?: Array<string | { id?: string; value?: string; name?: string; label?: string }> | null;
  variables?: Record<string, unknown> | null;
  candidateGroups?: string[] | null;
  candidateUsers?: string[] | null;
  escalationLevel?: number | null;
  description?: string | null;
}

export interface Definition {
  id: string;
  key: string;
  name?: string | null;
  version: number;
  status?: string | null;
  deploymentId?: string | null;
  deployedAt?: string | null;
  createdAt?: string | null;
  category?: string | null;
  procedureCode?: string | null;
  slaTargetHours?: number | null;
  resourceName?: string | null;
}

export interface Instance {
  id: string;
  definitionId?: string | null;
  processKey?: string | null;
  processName?: string | null;
  version?: number | null;
  businessKey?: string | null;
  caseId?: string | null;
  status?: string | null;
  startedAt?: string | null;
  endedAt?: string | null;
  dueAt?: string | null;
  slaStatus?: string | null;
  activeElements?: Array<string | { elementId?: string; id?: string }> | null;
  variables?: Record<string, unknown> | null;
  tasks?: Task[] | null;
  incidents?: Incident[] | null;
}

export interface Incident {
  id: string;
  kind?: string | null;
  type?: string | null;
  incidentType?: string | null;
  message?: string | null;
  elementId?: string | null;
  activityId?: string | null;
  createdAt?: string | null;
  jobId?: string | null;
  instanceId?: string | null;
}

export interface HistoryEntry {
  id?: string;
  elementId?: string | null;
  type?: string | null;
  elementType?: string | null;
  name?: string | null;
  startedAt?: string | null;
  endedAt?: string | null;
  action?: string | null;
  actor?: string | null;
  actionBy?: string | null;
  userId?: string | null;
  at?: string | null;
  actionAt?: string | null;
  createdAt?: string | null;
  comment?: string | null;
  text?: string | null;
  details?: unknown;
  fromStatus?: string | null;
  toStatus?: string | null;
}

export function taskInstanceId(task: Task): string | null {
  return task.instanceId ?? task.processInstanceId ?? null;
}

export function taskQueue(task: Task): string {
  return task.queueName ?? task.queue ?? task.queueId ?? "";
}

export function activeIds(instance: Instance | null): string[] {
  return (instance?.activeElements ?? []).map((item) =>
    typeof item === "string" ? item : item.elementId ?? item.id ?? "",
  );
}
