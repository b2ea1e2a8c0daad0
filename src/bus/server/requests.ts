// How requests made by in-process code on a node end without an answer.
import { TreescaleError } from "../../errors.js";

export class RequestTimeoutError extends TreescaleError {
  constructor(message: string) {
    super("request_timeout", message);
  }
}

export class NoRespondersError extends TreescaleError {
  constructor(message: string) {
    super("no_responders", message);
  }
}
