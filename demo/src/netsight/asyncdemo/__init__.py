"""netsight.asyncdemo: the Nth Fibonacci number, computed in the background."""
