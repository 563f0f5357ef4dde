// Reads a BPMN 2.0 file with bpmn-moddle (the parser bpmn-js uses) and prints what it
// found as JSON: the warnings (unknown elements, attributes, unresolved references) and
// the elements by type, with names, so the Python test can check the export.
import { readFileSync } from "node:fs";
import { BpmnModdle } from "bpmn-moddle";

const xml = readFileSync(process.argv[2], "utf8");
const moddle = new BpmnModdle();
const { rootElement, warnings } = await moddle.fromXML(xml, "bpmn:Definitions");
const process_ = rootElement.rootElements.find((e) => e.$type === "bpmn:Process");
const plane = rootElement.diagrams[0].plane;
// flow elements of the process and, depth first, of its sub-processes
const flat = (container) =>
  (container.flowElements ?? []).flatMap((e) => [e, ...flat(e)]);
const elements = flat(process_).map((e) => ({
  type: e.$type,
  id: e.id,
  name: e.name ?? null,
  source: e.sourceRef?.id ?? null,
  target: e.targetRef?.id ?? null,
  attachedTo: e.attachedToRef?.id ?? null,
  cancelActivity: e.cancelActivity ?? null,
  definitions: (e.eventDefinitions ?? []).map((d) => ({
    type: d.$type,
    duration: d.timeDuration?.body ?? null,
    escalation: d.escalationRef?.escalationCode ?? null,
  })),
  documentation: (e.documentation ?? []).map((d) => d.text).join(" "),
}));
const shapes = plane.planeElement.map((d) => ({
  type: d.$type,
  element: d.bpmnElement?.id ?? null,
  bounds: d.bounds ?? null,
  waypoints: (d.waypoint ?? []).length,
}));
console.log(JSON.stringify({ warnings: warnings.map((w) => w.message), elements, shapes }));
