"""Prefect's process worker, drainable: the worker class of ``kel worker`` (`cli.worker`)."""

from __future__ import annotations

import warnings

import anyio.abc
from prefect.client.schemas.objects import FlowRun
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

with warnings.catch_warnings():  # Prefect warns that it registers a second "process" type
    warnings.simplefilter("ignore", UserWarning)

    class StoppableWorker(ProcessWorker):
        """`ProcessWorker` that can be drained: no new runs once `draining`; counts its runs."""

        draining: bool = False
        in_flight: int = 0

        async def get_and_submit_flow_runs(self) -> list[FlowRun]:
            if self.draining:
                return []
            return await super().get_and_submit_flow_runs()

        async def run(
            self,
            flow_run: FlowRun,
            configuration: ProcessJobConfiguration,
            task_status: anyio.abc.TaskStatus[int] | None = None,
        ) -> ProcessWorkerResult:
            self.in_flight += 1
            try:
                return await super().run(flow_run, configuration, task_status)
            finally:
                self.in_flight -= 1
