export declare const LADDER: { name: string; kbps: number; width: number; height: number }[];
export declare function rungOfHeight(height: number): number;
