// What each language's parser gives back. Its own module so the parsers and parse.ts, which imports
// them, both depend on it rather than on each other.
import type { ManifestIssue, PathSegment, Position } from "./issues.js";

/** One document of a file (YAML files may hold several): its data and where each path is written. */
export type SourceDocument = {
  file: string;
  data: unknown;
  /** Position of a path, else of its nearest located parent, else line 1. */
  locate(path: readonly PathSegment[]): Position;
};

export type ParseResult = { documents: SourceDocument[]; issues: ManifestIssue[] };

export type Parser = (file: string, text: string) => ParseResult;
