// lib/matrix: the suite over many configurations (kernels x module sets x module parameters), one table.
export { columnName, describeColumn, matrixColumns, parameterAxes, parameterName, type KernelBuild, type MatrixColumn } from './columns';
export { runPool } from './pool';
export { buildMatrix, formatMatrix, formatTally, regressedColumns, rowDiffers, tallyRun, type MatrixRow, type Tally } from './table';
export { columnsWithFailures, failureReasons, formatReasons } from './reasons';
