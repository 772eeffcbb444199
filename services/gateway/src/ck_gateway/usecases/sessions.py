"""Logging in and out: the log-in form and the JSON API's bearer-token log-in."""

from __future__ import annotations

from ck_contracts.accounts import Login, LoginResult, Ops, SessionToken
from fastapi import Request

from ck_gateway import backend
from ck_gateway.client_address import client_key
from ck_gateway.usecases.requests import request_of


async def log_in(request: Request, email: str, password: str) -> LoginResult:
    """A new session; RpcFailed when accounts refuses (a wrong password and an unknown
    account get the same answer; a lock says how long to wait). Throttled per account and
    per client address (a keyed hash of it, never the address)."""
    command = request_of(Login, email=email, password=password, client=client_key(request))
    return await backend.send(request, Ops.LOGIN, command)


async def log_out(request: Request, token: str) -> None:
    await backend.send(request, Ops.LOGOUT, request_of(SessionToken, token=token))
