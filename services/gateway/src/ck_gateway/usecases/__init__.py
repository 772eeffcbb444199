"""One function per use case that more than one route runs (a page and its JSON twin): the
gateway's own check of the actor, then the call to the service through its declared
operation (`backend.send`). Routes parse their input (a form or a JSON body), call the use
case and show the answer; they never repeat a call sequence of their own."""
