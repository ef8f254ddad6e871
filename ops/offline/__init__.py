"""The Pulumi program without a cloud: the AWS mocks (``aws_mocks``), the in-process evaluation of a stack
(``stack_eval``) and the policy verdicts (``verdicts``) shared by ``cruddur plan``, the tests and the benchmarks."""
