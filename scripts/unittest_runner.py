#!/usr/bin/python3
"""Runs a folder of unittest files and writes one line per test outcome to
the file named by $TESSERA_RESULTS ("ok ID", "FAIL ID", "skip ID"), so the
counts never depend on what tests print on stdout/stderr.
Usage: unittest_runner.py FOLDER"""
import sys
import unittest

results = open(__import__("os").environ["TESSERA_RESULTS"], "a", buffering=1)


class Result(unittest.TextTestResult):
    def addSuccess(self, test):
        super().addSuccess(test)
        results.write(f"ok {test.id()}\n")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        results.write(f"FAIL {test.id()}\n")

    def addError(self, test, err):
        super().addError(test, err)
        results.write(f"FAIL {test.id()}\n")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        results.write(f"skip {test.id()}\n")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            results.write(f"FAIL {subtest.id()}\n")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        results.write(f"FAIL {test.id()} (unexpected success)\n")


suite = unittest.defaultTestLoader.discover(sys.argv[1], pattern="test_*.py",
                                            top_level_dir=sys.argv[1])
outcome = unittest.TextTestRunner(resultclass=Result, verbosity=2).run(suite)
sys.exit(0 if outcome.wasSuccessful() else 1)
